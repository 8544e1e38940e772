import Synchronization

/// One waiting thread's entry in a condition's queue: its own futex word
/// (`signal`) and the queue links. Lives in the waiting thread's stack frame
/// for the duration of one wait. The links are read and written only with the
/// queue's lock held; the signal word is set by notify and interrupt (with
/// that lock held) and read by its waiter.
@usableFromInline
struct WaitNode: Equatable {
    /// Set by a notify that chose this waiter (and took it off the queue).
    static let notified: UInt32 = 1
    /// Set by an interrupt; the waiter clears it when it consults its hook.
    static let interrupted: UInt32 = 2

    /// Bytes a node needs, and their alignment.
    static let size = 40
    static let alignment = 8

    let base: UnsafeMutableRawPointer

    /// Initializes a node in `memory` (at least `size` bytes, aligned).
    init(initializing memory: UnsafeMutableRawPointer) {
        base = memory
        memory.bindMemory(to: Atomic<UInt32>.self, capacity: 1).initialize(to: Atomic(0))
        (memory + 8).initializeMemory(as: UnsafeMutableRawPointer?.self, repeating: nil, count: 2)
        (memory + 24).initializeMemory(as: UInt64.self, repeating: 0, count: 2)
    }

    /// The node's futex word: 0 while it waits, `notified` / `interrupted` bits.
    var signal: FutexWord { FutexWord(existing: base.assumingMemoryBound(to: Atomic<UInt32>.self)) }

    var previous: WaitNode? {
        get { (base + 8).load(as: UnsafeMutableRawPointer?.self).map(WaitNode.init(existing:)) }
        nonmutating set { (base + 8).storeBytes(of: newValue?.base, as: UnsafeMutableRawPointer?.self) }
    }

    var next: WaitNode? {
        get { (base + 16).load(as: UnsafeMutableRawPointer?.self).map(WaitNode.init(existing:)) }
        nonmutating set { (base + 16).storeBytes(of: newValue?.base, as: UnsafeMutableRawPointer?.self) }
    }

    /// The node's place in arrival order (with the queue's lock held).
    var ticket: UInt64 {
        get { (base + 24).load(as: UInt64.self) }
        nonmutating set { (base + 24).storeBytes(of: newValue, as: UInt64.self) }
    }

    /// For a chosen node: the tickets below this one were waiting when the
    /// notify that chose it was called (with the queue's lock held).
    var chosenBefore: UInt64 {
        get { (base + 32).load(as: UInt64.self) }
        nonmutating set { (base + 32).storeBytes(of: newValue, as: UInt64.self) }
    }

    private init(existing base: UnsafeMutableRawPointer) { self.base = base }
}

/// The FIFO queue of a condition's waiting threads, with the small lock that
/// guards it. The lock is the condition's own, not the user's, so the queue
/// stays consistent even when a condition is misused (a notify without the
/// lock on a foreign lock that cannot tell), and interrupts need no lock.
/// It is never held while parking or while running a hook.
///
/// Thread-safe; owned by its `Condition`.
@usableFromInline
final class WaitQueue: @unchecked Sendable {
    private let guardLock = Lock()
    // Guarded by `guardLock`.
    private var head: WaitNode?
    private var tail: WaitNode?
    private var nextTicket: UInt64 = 0
    // Set by an `interruptAll` that found `guardLock` taken: whoever holds it
    // delivers the interruption before letting it go.
    private let interruptPending: SharedWord32 = .allocate(0)

    deinit { interruptPending.deallocate() }

    /// Appends `node` (a thread about to wait) at the back.
    func enqueue(_ node: WaitNode) {
        guardLock.acquire()
        node.ticket = nextTicket
        nextTicket &+= 1
        node.next = nil
        node.previous = tail
        if let tail { tail.next = node } else { head = node }
        tail = node
        unlockQueue()
    }

    /// Chooses up to `n` waiters, longest-waiting first: takes each off the
    /// queue, marks it notified and wakes it. Returns how many it chose.
    func notify(_ n: Int) -> Int {
        guardLock.acquire()
        var chosen = 0
        let waitingNow = nextTicket
        while chosen < n, let node = head {
            remove(node)
            choose(node, waitingBefore: waitingNow)
            chosen += 1
        }
        unlockQueue()
        return chosen
    }

    /// Marks every waiter now queued interrupted and wakes it; none leaves
    /// the queue. Never blocks, so that a signal handler may call it even on
    /// a thread in the middle of another queue operation: if the queue's lock
    /// is taken, the interruption is left pending and whoever holds the lock
    /// delivers it before letting it go.
    func interruptAll() {
        interruptPending.store(1, ordering: .releasing)
        if guardLock.tryAcquire() { unlockQueue() }
    }

    // With guardLock held: delivers a pending interruption, then releases the
    // lock. If one arrives after the last look, and the lock is free again,
    // takes it back to deliver that one too: none is left pending while the
    // lock is free.
    private func unlockQueue() {
        while true {
            if interruptPending.exchange(0, ordering: .acquiring) != 0 { interruptQueued() }
            guardLock.unlock()
            guard interruptPending.load(ordering: .acquiring) != 0, guardLock.tryAcquire() else { return }
        }
    }

    // With guardLock held.
    private func interruptQueued() {
        var node = head
        while let current = node {
            _ = current.signal.word.bitwiseOr(WaitNode.interrupted, ordering: .releasing)
            current.signal.wake(1)
            node = current.next
        }
    }

    /// Takes `node` off the queue for a wait that ends without a notify
    /// (timeout, interruption). Returns false if a notify chose it first:
    /// then it is no longer queued and the wait was notified.
    func leave(_ node: WaitNode) -> Bool {
        guardLock.acquire()
        defer { unlockQueue() }
        // Set only with guardLock held: stable while we hold it.
        if node.signal.load(ordering: .relaxed) & WaitNode.notified != 0 { return false }
        remove(node)
        return true
    }

    /// Takes `node` off the queue like `leave`; if a notify had already chosen
    /// it, hands that notify on to the longest-waiting other thread that was
    /// already waiting when the notify was called, so that a wait that stops
    /// for its own reason never swallows a notify (nor gives it to a thread
    /// that started waiting after it; with none, the notify is spent).
    func leaveHandingOnNotify(_ node: WaitNode) {
        guardLock.acquire()
        if node.signal.load(ordering: .relaxed) & WaitNode.notified == 0 {
            remove(node)
        } else if let next = head, next.ticket < node.chosenBefore {
            remove(next)
            choose(next, waitingBefore: node.chosenBefore)
        }
        unlockQueue()
    }

    /// Forgets every waiter and resets the lock. Only in a child process right
    /// after `fork()`, where the waiting threads no longer exist.
    func reinitializeAfterFork() {
        guardLock.reinitializeAfterFork()
        interruptPending.store(0, ordering: .relaxed)
        head = nil
        tail = nil
    }

    // With guardLock held.
    private func remove(_ node: WaitNode) {
        if let previous = node.previous { previous.next = node.next } else { head = node.next }
        if let next = node.next { next.previous = node.previous } else { tail = node.previous }
        node.next = nil
        node.previous = nil
    }

    // With guardLock held, for a node just taken off the queue. Once the bit
    // is set the waiter may return and its node's memory be reused: the wake
    // then reaches nobody, or some other park as a spurious wake-up (which
    // every park tolerates). The store itself happens while the node is
    // certainly alive: its waiter cannot leave without seeing the bit or
    // taking guardLock.
    private func choose(_ node: WaitNode, waitingBefore: UInt64) {
        node.chosenBefore = waitingBefore
        _ = node.signal.word.bitwiseOr(WaitNode.notified, ordering: .releasing)
        node.signal.wake(1)
    }
}
