import CDupThreadingShims

/// A cheap, non-zero identifier of the calling thread, unique among live
/// threads and equal to its `pthread_self()`. Used to track lock ownership.
@inlinable
func currentThreadID() -> Int {
    Int(bitPattern: dupthreading_shim_thread_id())
}
