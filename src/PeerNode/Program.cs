using P2PDistill.PeerNode.Hosting;

// A teacher or student node: its options, its actor system and its rejoin loop live in Hosting/.
return await PeerProgram.RunAsync(args);
