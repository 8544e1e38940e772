/*
 * condition.pml: the protocol of Condition (Sources/DupThreading/Condition.swift
 * and WaitQueue.swift) as a Promela model, checked exhaustively by spin:
 *
 *   bash models/check.sh
 *
 * What is modelled: waiters that queue a node of their own and release the
 * user's lock, then park on their node's signal word until a notify marks it
 * (NOTIFIED), an interrupt marks it (INTERRUPTED: the waiter consults its
 * hook, which may say go on or stop), or their timeout passes (at any moment:
 * time is not modelled, so every ordering of a timeout against every other
 * step is explored); a notifier that calls notify(n) under the user's lock;
 * an interrupter that calls interruptWaiters() without it. Every step that
 * the code takes under the queue's own lock is one atomic step here; the
 * signal word's bits are set and cleared atomically, as the code does with
 * bitwiseOr / bitwiseAnd.
 *
 * What is checked, in every reachable state:
 *  - a wait returns notified only if a notify chose it (assertions);
 *  - notify(n) chooses min(n, queued) waiters, longest-waiting first;
 *  - at the end, the number of waits that returned notified is exactly the
 *    sum of min(n, queued) over the notifies (no lost or invented notify),
 *    less the choices of waits that their hook then stopped when no other
 *    thread that was waiting at that notify still waited (a stopped wait
 *    hands its notify on to the longest-waiting such thread; never to one
 *    that started waiting after the notify);
 *  - no deadlock: spin reports any end state where a process is blocked.
 */

#define W 3                 /* waiters */
#define NOTIFIED 1
#define INTERRUPTED 2
#define WAITING 0
#define R_NOTIFIED 1
#define R_TIMEDOUT 2
#define R_INTERRUPTED 3

byte userLock = 255;        /* 255: free; else the holder's pid */
byte signal[W];             /* each waiter's node signal word */
bool queued[W];
byte queue[W];              /* FIFO of waiter ids, queue[0..count-1] */
byte count = 0;
bool chosen[W];             /* a notify chose this waiter */
byte ticket[W];             /* arrival order */
byte chosenBefore[W];       /* for a chosen waiter: tickets below this were waiting at the notify */
byte nextTicket = 0;
byte result[W];
byte choicesByNotify = 0;   /* the spec: sum of min(n, queued) over notifies */
byte dropped = 0;           /* choices of a stopped wait with nobody to hand on to */
byte entered = 0;           /* waits begun (under the user's lock) */
byte finished = 0;

inline lockUser() { atomic { userLock == 255 -> userLock = _pid } }
inline unlockUser() { assert(userLock == _pid); userLock = 255 }

/* With the queue's lock held (one atomic step). */
inline removeAt(k) {
    j = k;
    do
    :: j < count - 1 -> queue[j] = queue[j + 1]; j++
    :: else -> break
    od;
    count--
}

inline chooseHead(before) {
    who = queue[0];
    assert(ticket[who] < before);   /* only a thread waiting at the notify */
    removeAt(0);
    queued[who] = false;
    chosen[who] = true;
    chosenBefore[who] = before;
    signal[who] = signal[who] | NOTIFIED
}

/* The waiter leaves the queue because its timeout passed (timedOut) or its
 * hook said stop: returns notified if a notify chose it first; when stopping,
 * hands such a notify on to the longest-waiting other waiter. */
inline leave(me, stopping) {
    atomic {
        if
        :: (signal[me] & NOTIFIED) == 0 ->
            k = 0;
            do
            :: queue[k] == me -> break
            :: else -> k++
            od;
            removeAt(k);
            queued[me] = false;
            result[me] = (stopping -> R_INTERRUPTED : R_TIMEDOUT)
        :: else ->
            if
            :: stopping ->
                result[me] = R_INTERRUPTED;
                if
                :: count > 0 && ticket[queue[0]] < chosenBefore[me] -> chooseHead(chosenBefore[me])
                :: else -> dropped++
                fi
            :: else -> result[me] = R_NOTIFIED
            fi
        fi
    }
}

proctype Waiter(byte me; bool timed; bool hasHook) {
    byte j, k, who;
    lockUser();
    entered++;
    atomic { queue[count] = me; count++; queued[me] = true; ticket[me] = nextTicket; nextTicket++ };
    unlockUser();
    do
    :: (signal[me] & NOTIFIED) != 0 -> result[me] = R_NOTIFIED; break
    :: (signal[me] & NOTIFIED) == 0 && (signal[me] & INTERRUPTED) != 0 ->
        signal[me] = signal[me] & ~INTERRUPTED;     /* bitwiseAnd */
        if
        :: !hasHook -> leave(me, true); break       /* no hook: an interrupt stops */
        :: hasHook -> leave(me, true); break        /* the hook says stop */
        :: hasHook -> skip                          /* the hook says go on */
        fi
    :: timed && (signal[me] & NOTIFIED) == 0 -> leave(me, false); break
    od;
    /* Notified only if chosen. */
    assert(result[me] != R_NOTIFIED || chosen[me]);
    lockUser();                                     /* restoreAfterWait */
    finished++;
    unlockUser()
}

proctype Notifier(byte n) {
    byte j, who, k;
    lockUser();
    atomic {
        choicesByNotify = choicesByNotify + (n < count -> n : count);
        k = 0;
        do
        :: k < n && count > 0 -> chooseHead(nextTicket); k++
        :: else -> break
        od
    };
    unlockUser();
    /* Release the waits that no notify chose and that cannot time out or be
     * stopped, so that every run can end: notifyAll once all have begun. */
    (entered == W);
    lockUser();
    atomic {
        choicesByNotify = choicesByNotify + count;
        do
        :: count > 0 -> chooseHead(nextTicket)
        :: else -> break
        od
    };
    unlockUser()
}

proctype Interrupter() {
    byte k;
    atomic {
        k = 0;
        do
        :: k < count -> signal[queue[k]] = signal[queue[k]] | INTERRUPTED; k++
        :: else -> break
        od
    }
}

init {
    byte i, notified;
    atomic {
        run Waiter(0, true, true);
        run Waiter(1, false, false);
        run Waiter(2, true, false);
        run Notifier(NOTIFY_N);
        run Interrupter()
    };
    (finished == W);
    /* Every chosen waiter returned notified, and only those. */
    i = 0;
    notified = 0;
    do
    :: i < W ->
        assert(result[i] != WAITING);
        if
        :: result[i] == R_NOTIFIED -> notified++; assert(chosen[i])
        :: else -> skip
        fi;
        i++
    :: else -> break
    od;
    /* Every choice a notify made ends exactly one wait as notified, except
     * one whose wait its hook stopped when no other thread waited. */
    assert(notified == choicesByNotify - dropped);
    assert(count == 0)
}
