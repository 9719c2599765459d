import Foundation
import Synchronization

extension UUID {
    /// A version 7 UUID (RFC 9562): 48 bits of Unix milliseconds, then a counter, then random
    /// bits. Ids made by one process sort in the order they were made, and ids of different
    /// processes sort by time to the millisecond, in their string form as in their bytes.
    public static func timeOrdered() -> UUID {
        TimeOrderedIDGenerator.shared.next(milliseconds: UInt64(max(0, Date().millisecondsSince1970)))
    }

    /// A version 7 UUID for a given time (an event that happened earlier, a test), with a
    /// random counter: no ordering among ids of the same millisecond.
    public static func timeOrdered(at date: Date) -> UUID {
        makeVersion7(milliseconds: UInt64(max(0, date.millisecondsSince1970)), counter: UInt16.random(in: 0...0xFFF))
    }

    /// The creation time of a version 7 UUID, to the millisecond; nil for other versions.
    public var timeOrderedDate: Date? {
        let bytes = uuid
        guard bytes.6 >> 4 == 7 else { return nil }
        let milliseconds = [bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5]
            .reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Date(millisecondsSince1970: Int64(milliseconds))
    }
}

/// Keeps ids monotonic within a process: in the same millisecond (or when the clock steps back)
/// the 12-bit counter of RFC 9562 method 1 is incremented instead of drawing new random bits.
final class TimeOrderedIDGenerator: Sendable {
    static let shared = TimeOrderedIDGenerator()

    private struct State {
        var milliseconds: UInt64 = 0
        var counter: UInt16 = 0
    }
    private let state = Mutex(State())

    func next(milliseconds now: UInt64) -> UUID {
        let (milliseconds, counter) = state.withLock { state -> (UInt64, UInt16) in
            if now > state.milliseconds {
                state.milliseconds = now
                state.counter = UInt16.random(in: 0..<0x400)  // leave room to count up
            } else if state.counter < 0xFFF {
                state.counter += 1
            } else {
                // 4096 ids in one millisecond: borrow the next millisecond.
                state.milliseconds += 1
                state.counter = 0
            }
            return (state.milliseconds, state.counter)
        }
        return makeVersion7(milliseconds: milliseconds, counter: counter)
    }
}

private func makeVersion7(milliseconds: UInt64, counter: UInt16) -> UUID {
    var random = SystemRandomNumberGenerator()
    let tail = random.next() as UInt64
    return UUID(uuid: (
        UInt8(truncatingIfNeeded: milliseconds >> 40), UInt8(truncatingIfNeeded: milliseconds >> 32),
        UInt8(truncatingIfNeeded: milliseconds >> 24), UInt8(truncatingIfNeeded: milliseconds >> 16),
        UInt8(truncatingIfNeeded: milliseconds >> 8), UInt8(truncatingIfNeeded: milliseconds),
        0x70 | UInt8(counter >> 8), UInt8(truncatingIfNeeded: counter),
        0x80 | UInt8(truncatingIfNeeded: tail >> 56) & 0x3F, UInt8(truncatingIfNeeded: tail >> 48),
        UInt8(truncatingIfNeeded: tail >> 40), UInt8(truncatingIfNeeded: tail >> 32),
        UInt8(truncatingIfNeeded: tail >> 24), UInt8(truncatingIfNeeded: tail >> 16),
        UInt8(truncatingIfNeeded: tail >> 8), UInt8(truncatingIfNeeded: tail)
    ))
}
