/// The last frames sent to a session, by sequence number, for replay after a resume.
struct ReplayBuffer {
    private var frames: [(seq: UInt64, text: String)] = []
    private var start = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        frames.reserveCapacity(min(capacity, 64))
    }

    var oldestSeq: UInt64? { frames.isEmpty ? nil : frames[start].seq }

    mutating func append(seq: UInt64, text: String) {
        if frames.count < capacity {
            frames.append((seq, text))
        } else {
            frames[start] = (seq, text)
            start = (start + 1) % capacity
        }
    }

    /// Frames with a sequence number above `last`, oldest first.
    func frames(after last: UInt64) -> [String] {
        var result: [String] = []
        for offset in 0..<frames.count {
            let entry = frames[(start + offset) % frames.count]
            if entry.seq > last { result.append(entry.text) }
        }
        return result
    }
}
