#pragma once
// Graceful shutdown: blocks SIGTERM/SIGINT in every thread and lets one call wait for them.

namespace dedicated {

// Call first thing in main(), before any thread starts, so that the signals reach WaitForShutdownSignal.
void BlockShutdownSignals();
// Returns the signal number (SIGTERM or SIGINT) once one arrives.
int WaitForShutdownSignal();

}  // namespace dedicated
