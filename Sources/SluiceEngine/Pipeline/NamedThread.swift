import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Starts a thread running `body`, named `name` for Foundation and for the operating system, so
/// `top -H`, `perf` and `/proc/*/task/*/comm` show it. Foundation's `Thread.name` does not reach
/// the OS thread on Linux (perf listed the pipeline thread as "…root.default-qos"); the OS name
/// is written to `/proc/thread-self/comm` because Swift does not import `pthread_setname_np` (a
/// GNU extension) or the variadic `prctl`. Linux keeps the first 15 bytes; elsewhere, and on any
/// failure, only Foundation's name is set (a name is only a label).
func startNamedThread(_ name: String, stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) {
    let thread = Thread {
        nameCurrentOSThread(name)
        body()
    }
    thread.name = name
    if let stackSize { thread.stackSize = stackSize }
    thread.start()
}

private func nameCurrentOSThread(_ name: String) {
    #if os(Linux)
    let fd = open("/proc/thread-self/comm", O_WRONLY)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    #endif
}
