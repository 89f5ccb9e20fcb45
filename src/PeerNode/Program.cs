// The peer node (role teacher or student) joins the coordinator's Akka.Cluster: see issue "The cluster runtime".
// Until it lands, the cohort trains in one process: p2pdistill-coordinator --single-process.
Console.Error.WriteLine("error: the peer node needs the cluster runtime, which is not built yet; use p2pdistill-coordinator --single-process (see README).");
return 2;
