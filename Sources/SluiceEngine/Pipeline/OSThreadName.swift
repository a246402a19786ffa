#if canImport(Glibc)
import Glibc
#endif

/// Names the calling thread for the operating system, so `top -H`, `perf` and `/proc/*/task/*/comm`
/// show it (Foundation's `Thread.name` does not reach the OS thread on Linux: perf listed the
/// pipeline thread as "…root.default-qos"). Through `/proc/thread-self/comm` because Swift does
/// not import `pthread_setname_np` (a GNU extension) or the variadic `prctl`. Linux keeps the
/// first 15 bytes; elsewhere, and on any failure, nothing happens (a name is only a label).
func nameCurrentOSThread(_ name: String) {
    #if os(Linux)
    let fd = open("/proc/thread-self/comm", O_WRONLY)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    #endif
}
