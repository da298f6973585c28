// Package engine is the host side of Cocoon Provider without any UI: it
// composes GPU discovery, the eligibility doctor, the VM tools and the store,
// and offers them to the desktop app and the CLI through one narrow API.
//
// The engine never imports the app or Fyne, so it runs headless too.
package engine
