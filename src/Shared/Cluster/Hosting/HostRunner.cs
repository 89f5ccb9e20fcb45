using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace P2PDistill.Shared.Hosting;

/// <summary>Runs a host, turning configuration errors into a clear message and exit code 2.</summary>
public static class HostRunner
{
    public static async Task<int> RunAsync(IHost host)
    {
        try
        {
            // Validate every option first, before any hosted service (the actor system, the run) is built from them: the
            // host would validate only after resolving the hosted services, and Akka.Hosting reads the Node settings then.
            host.Services.GetService<IStartupValidator>()?.Validate();
            await host.RunAsync();
            return Environment.ExitCode;
        }
        catch (OptionsValidationException e)
        {
            foreach (var failure in e.Failures) Console.Error.WriteLine($"error: invalid configuration: {failure}");
            return (int)ExitCode.BadInput;
        }
        catch (Exception e) when (e is InvalidDataException or Data.DatasetException or ArgumentException or IOException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return (int)ExitCode.BadInput;
        }
        catch (InvalidOperationException e) when (ConfigurationErrors.Describe(e, host.Services.GetService<CommandLine>()) is { } message)
        {
            Console.Error.WriteLine($"error: {message}");
            return (int)ExitCode.BadInput;
        }
    }
}
