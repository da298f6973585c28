// Package update reads the signed release feed: which Cocoon Provider
// version is the newest, where to download it, and which worker images
// have been released. Nothing is ever installed automatically: an app
// update is offered to the user, and a worker image is offered only when
// its image hash is on the network's allow-list.
//
// # Feed
//
// The feed is a JSON document, served as is (for example as a release
// asset, feed.json):
//
//	{
//	  "schema": 1,
//	  "published": "2026-05-01T12:00:00Z",
//	  "app": {
//	    "version": "1.2.3",
//	    "notes": "What changed, as plain text.",
//	    "downloads": [
//	      {"os": "linux", "arch": "amd64", "kind": "deb",
//	       "url": "https://…/cocoon-provider_1.2.3_amd64.deb",
//	       "sha256": "<64 hex>", "size": 12345678}
//	    ]
//	  },
//	  "images": [
//	    {"name": "cocoon-worker", "version": "0.9.1",
//	     "url": "https://…/cocoon-worker-0.9.1.tar.xz",
//	     "sha256": "<64 hex>", "size": 987654321,
//	     "image_hash": "<64 hex>", "notes": "optional"}
//	  ]
//	}
//
// Fields:
//
//   - schema: the feed format; this package reads schema 1 and refuses
//     any other. Fields it does not know are ignored, so schema 1 can gain
//     optional fields; an incompatible change takes a new schema number.
//   - published: RFC 3339 time the feed was made. A feed published before
//     one already seen is refused (Options.LastPublished), so an old feed
//     cannot be replayed to hide a newer release.
//   - app.version: the newest release, semantic versioning with an
//     optional leading "v" (1.2.3, v1.3.0-rc.1).
//   - app.notes: release notes, plain text (optional).
//   - app.downloads: one entry per artifact. os and arch use Go's names
//     (GOOS, GOARCH: linux, windows, darwin; amd64, arm64); kind is "deb",
//     "tarball" or "exe" (other kinds are passed through for newer apps);
//     url is http or https; sha256 is the artifact's SHA-256 in hex; size
//     is its length in bytes.
//   - images: released worker images. name and version are shown to the
//     user; url, sha256 and size describe the download as above;
//     image_hash is the TDX image hash of the booted image, the value the
//     network's root contract allow-lists; notes is optional.
//
// Hex values may be written in either case; Parse returns them in lower
// case.
//
// # Signature
//
// The feed is signed with Ed25519 over its exact bytes. The signature is
// served beside it at the feed's URL with ".sig" appended, as base64 text
// (standard alphabet). The signature file may hold several signatures,
// one a line, so that a feed can be signed by an old and a new key while
// the key is being replaced; the feed is accepted when any of them
// verifies against any pinned key.
//
// The signature is checked before the feed is parsed, and an unsigned
// feed is never used. The keys a build trusts are pinned when it is built:
//
//	go build -ldflags "-X github.com/cocoon-provider/cocoon-provider/update.releaseKey=<base64 public key>"
//
// releaseKey may list several keys separated by commas. A build without a
// pinned key cannot check for updates and says so (ErrNoPinnedKey).
// packaging/cmd/feedsign makes keys and signs feeds.
//
// # What is offered
//
// Check compares the running version with app.version (a development
// build is never offered a release, so it is never told to downgrade) and
// picks the downloads for this platform. Each image gets the verdict of
// Options.AllowedImage: an image whose hash is not on the network's
// allow-list, or any image when the allow-list could not be read, is not
// offered, and its download fields are cleared in the Result.
//
// Integrity comes from the signature and the SHA-256 sums, not from the
// transport; VerifyDownload checks a downloaded artifact against the
// feed's sum and size.
package update
