// Package launch works out, without doing any of it, every step a
// production launch of the official COCOON worker takes on a host: what
// the host lacks for production (hostcheck's verdicts), the worker release
// to use, the privileged helper's operations on each GPU, the files
// written (the 9p spec share with runtime.vars, the sparse persistent
// disk, the model disk), the seal-server step, and the full QEMU command
// of each instance. One instance runs per GPU, each with its own ports,
// vsock CID, persistent disk and worker contract (worker interface §3.4).
//
// Plan reads the host only through Host: an fs.FS rooted at "/" plus the
// doctor's report and what is known of each GPU's confidential-computing
// mode. Host also carries the effects a real launch would have (writing
// files, creating disks, running commands); Plan never calls them, and
// the tests hold it to that with a Host whose effects fail the test.
//
// Config.Test and Config.FakeTON (or worker.conf's test and fake_ton)
// plan the official launcher's debug modes (worker interface §3.3): test
// images, cocoon_debug/cocoon_fake_ton on the kernel command line, no
// seal server in test mode, and with fake TON the spec template rewritten
// by worker.RewriteSpecForFakeTON. Such a launch measures another image
// hash, which the network does not accept; the plan says so.
//
// The plan names the TON config whose liteservers the worker will use;
// only with Config.CheckLiteservers does it ask them (Host.CheckLiteservers),
// the one network access a plan makes.
//
// A step that cannot be taken carries its blocking reasons; Text words
// the plan as "would do" or "blocked because …".
//
// Execute carries out a Ready plan, step by step in its order, through a
// Runner (NewHostRunner on Linux; a recording one in tests): the helper
// operations, files and commands are the plan's own, never recomputed.
// A failure midway undoes what was started and gives back the GPUs it
// bound; persistent disks stay. Running supervises one VM per instance.
package launch
