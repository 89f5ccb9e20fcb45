using P2PDistill.Coordinator.Hosting;

// The coordinator's commands and runs are wired in Hosting/CoordinatorProgram.
return await CoordinatorProgram.RunAsync(args);
