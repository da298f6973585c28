// Package model keeps the model archives a worker serves (worker interface
// §2.8): it parses and checks the model string name@commit:verity_hash,
// computes its model hash (the key of the root contract's allowed-model
// set) and checks it against the allow-list, fetches the model tar
// through the shared downloader (internal/download), builds or fetches
// and checks its dm-verity hash file, and stores both with a record.
//
// # The model string
//
// The worker reports its model as $MODEL_NAME@$MODEL_COMMIT:$MODEL_VERITY_HASH
// (§2.6), and the root contract allows a model by the SHA-256 of exactly
// that string (§8.6, §6.3). Since the hash is over the bytes, this
// package accepts only the canonical form build-model produces: a Hugging
// Face repository id, a 40-digit lower-case commit, and a 64-digit
// lower-case verity root hash; anything else would hash differently from
// what the worker reports, so it is refused rather than normalised.
//
// # dm-verity
//
// build-model runs `veritysetup format` with the salt
// 00010203040506070809101a1b1c1d1e1f and the UUID
// 645ac31f-7610-42e1-8434-9d733699eac0, all else default: format version
// 1, SHA-256, 4096-byte data and hash blocks, a superblock in the first
// hash block. BuildVerity computes the same hash file and root hash in
// Go, so the verity file can be built here from the tar alone, and a
// fetched one is checked byte for byte against it.
//
// # Layout
//
// A Store owns one directory (normally <data dir>/models):
//
//	<dir>/<repo id with / as -->@<commit>/   one model
//	    <MODEL_PATH>.tar                     the archive (build-model's name)
//	    <MODEL_PATH>.tar.verity              its dm-verity hash file
//	    <MODEL_PATH>.tar.hash                its root hash, hex
//	    model.json                           the record (Model)
//	<dir>/.downloads/<same name>/            a fetch in progress (.part files
//	                                         kept for resuming)
//
// A model reaches its folder by one rename of a checked staging folder,
// so a failed or refused fetch never touches a model already here.
//
// # Building the archive
//
// build-model downloads the model from Hugging Face and packs it with
// GNU tar in a reproducible way (§2.8). Reproducing GNU tar's pax
// headers byte for byte is not done here: the archive is fetched from an
// address (a mirror of build-model's output), and its bytes are accepted
// only when its dm-verity root hash is the one the model string names.
package model
