// Package app is the Fyne desktop UI: one window with the machine check and
// the GPU list, and a tray icon. It talks to the engine only through
// engine.API; it runs no commands and opens no sockets or databases itself.
package app
