/// The last frames sent to a session, by sequence number, for replay after a resume: at most `capacity` frames and
/// `byteCapacity` bytes of text, the oldest going first.
struct ReplayBuffer {
    private var frames: [(seq: UInt64, text: String)] = []
    /// Frames before this index have been let go; they are dropped from the array once they are half of it.
    private var head = 0
    private(set) var bytes = 0
    let capacity: Int
    let byteCapacity: Int

    init(capacity: Int, byteCapacity: Int = .max) {
        self.capacity = max(1, capacity)
        self.byteCapacity = byteCapacity
        frames.reserveCapacity(min(self.capacity, 64))
    }

    var count: Int { frames.count - head }

    var oldestSeq: UInt64? { head < frames.count ? frames[head].seq : nil }

    mutating func append(seq: UInt64, text: String) {
        frames.append((seq, text))
        bytes += text.utf8.count
        // The newest frame always stays, even alone above the byte budget: a resume right after it still works.
        while count > 1, count > capacity || bytes > byteCapacity {
            bytes -= frames[head].text.utf8.count
            frames[head].text = ""
            head += 1
        }
        if head >= 64, head * 2 >= frames.count {
            frames.removeFirst(head)
            head = 0
        }
    }

    /// Frames with a sequence number above `last`, oldest first.
    func frames(after last: UInt64) -> [String] {
        frames[head...].filter { $0.seq > last }.map(\.text)
    }
}
