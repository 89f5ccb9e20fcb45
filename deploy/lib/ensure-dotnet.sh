# Sourced by the scripts: makes sure a .NET 10 SDK is on PATH, installing it from the
# distribution's packages where it can (Ubuntu 24.04+ ships dotnet-sdk-10.0).
ensure_dotnet() {
  if [ -x "$HOME/.dotnet/dotnet" ] && ! command -v dotnet >/dev/null 2>&1; then
    export PATH="$HOME/.dotnet:$PATH"
  fi
  if command -v dotnet >/dev/null 2>&1 && dotnet --list-sdks 2>/dev/null | grep -q '^10\.'; then
    return 0
  fi
  echo "[p2pdistill] .NET SDK 10 not found; trying the distribution's package dotnet-sdk-10.0" >&2
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq dotnet-sdk-10.0 >/dev/null 2>&1 || true
  fi
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "[p2pdistill] error: the .NET 10 SDK is required and could not be installed automatically." >&2
    echo "[p2pdistill] Install it (https://learn.microsoft.com/dotnet/core/install/linux) and run this command again." >&2
    exit 2
  fi
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
}
