/// Event-time parsing and range rules (epoch milliseconds, UTC).
public enum EventTime {
    /// 2000-01-01T00:00:00Z: earlier timestamps are treated as absurd input.
    public static let earliest: Int64 = 946_684_800_000
    /// 2100-01-01T00:00:00Z (exclusive).
    public static let endExclusive: Int64 = 4_102_444_800_000

    public static func isPlausible(_ millis: Int64) -> Bool { millis >= earliest && millis < endExclusive }

    /// Parses an RFC 3339 date-time (`Z` or `±hh:mm` offset; `T`, `t` or space separator).
    /// Fractions beyond milliseconds are truncated. Returns nil when the text is not RFC 3339.
    public static func parseRFC3339(_ text: String) -> Int64? {
        var utf8 = Array(text.utf8)
        return utf8.withUnsafeMutableBufferPointer { parse(UnsafeBufferPointer($0)) }
    }

    private static func parse(_ s: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        func digits(_ count: Int) -> Int? {
            guard i + count <= s.count else { return nil }
            var value = 0
            for _ in 0..<count {
                let c = s[i]
                guard c >= 48, c <= 57 else { return nil }
                value = value * 10 + Int(c - 48)
                i += 1
            }
            return value
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < s.count, s[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(45), let month = digits(2), expect(45), let day = digits(2) else { return nil }
        guard i < s.count, s[i] == 84 || s[i] == 116 || s[i] == 32 else { return nil }
        i += 1
        guard let hour = digits(2), expect(58), let minute = digits(2), expect(58), let second = digits(2) else { return nil }
        var millis = 0
        if i < s.count, s[i] == 46 {
            i += 1
            var count = 0
            while i < s.count, s[i] >= 48, s[i] <= 57 {
                if count < 3 { millis = millis * 10 + Int(s[i] - 48) }
                count += 1
                i += 1
            }
            guard count > 0 else { return nil }
            for _ in count..<max(count, 3) { millis *= 10 }
        }
        guard i < s.count else { return nil }
        var offsetMinutes = 0
        switch s[i] {
        case 90, 122:  // Z z
            i += 1
        case 43, 45:  // + -
            let sign = s[i] == 45 ? -1 : 1
            i += 1
            guard let oh = digits(2), expect(58), let om = digits(2), oh <= 23, om <= 59 else { return nil }
            offsetMinutes = sign * (oh * 60 + om)
        default:
            return nil
        }
        guard i == s.count else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
            hour <= 23, minute <= 59, second <= 60
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        return seconds * 1000 + Int64(millis)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Formats epoch milliseconds as RFC 3339 UTC with milliseconds, e.g. `2026-11-23T12:00:00.000Z`.
    public static func formatRFC3339(_ millis: Int64) -> String {
        var bytes: [UInt8] = []
        appendRFC3339(millis, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `formatRFC3339` appended to a byte buffer (the decision encoder's hot path).
    public static func appendRFC3339(_ millis: Int64, to bytes: inout [UInt8]) {
        let days = Int(floorDiv(millis, 86_400_000))
        let msOfDay = Int(millis - Int64(days) * 86_400_000)
        let (y, m, d) = civilFromDays(days)
        guard (0...9999).contains(y) else {
            bytes.append(contentsOf: formatSlowly(y, m, d, msOfDay).utf8)
            return
        }
        func digits(_ value: Int, _ width: Int, then separator: UInt8?) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
            if let separator { bytes.append(separator) }
        }
        digits(y, 4, then: UInt8(ascii: "-"))
        digits(m, 2, then: UInt8(ascii: "-"))
        digits(d, 2, then: UInt8(ascii: "T"))
        digits(msOfDay / 3_600_000, 2, then: UInt8(ascii: ":"))
        digits(msOfDay / 60_000 % 60, 2, then: UInt8(ascii: ":"))
        digits(msOfDay / 1000 % 60, 2, then: UInt8(ascii: "."))
        digits(msOfDay % 1000, 3, then: UInt8(ascii: "Z"))
    }

    /// Years outside 0–9999 (not RFC 3339, kept readable).
    private static func formatSlowly(_ y: Int, _ m: Int, _ d: Int, _ msOfDay: Int) -> String {
        func pad(_ v: Int, _ width: Int) -> String {
            let text = String(v)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(msOfDay / 3_600_000, 2)):\(pad(msOfDay / 60_000 % 60, 2)):"
            + "\(pad(msOfDay / 1000 % 60, 2)).\(pad(msOfDay % 1000, 3))Z"
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// UTC hour of day, 0–23.
    public static func hourOfDay(_ millis: Int64) -> Int { Int(floorMod(millis, 86_400_000) / 3_600_000) }

    /// UTC day of week, 0 = Monday … 6 = Sunday (ISO 8601 order).
    public static func dayOfWeek(_ millis: Int64) -> Int {
        // 1970-01-01 was a Thursday (ISO index 3).
        Int(floorMod(floorDiv(millis, 86_400_000) + 3, 7))
    }
}

@inlinable public func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

@inlinable public func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }
