import Foundation
import SluiceCore

/// Synthetic e-commerce traffic: orders, payments and returns of many users over several days,
/// with fraud rings (many cards and devices, bursts of large orders, mismatched addresses),
/// return abusers (most orders returned), some out-of-order and late events, and a share of
/// malformed records. Deterministic by seed.
public struct TrafficGenerator: Sendable {
    public struct Options: Sendable {
        public var events = 20_000
        public var users = 2_000
        public var days = 5
        /// Event times end here (epoch ms); the first events are `days` earlier.
        public var endTime: Int64 = 1_795_000_000_000
        public var seed: UInt64 = 42
        public var fraudShare = 0.03
        public var abuserShare = 0.03
        public var malformedShare = 0.01
        /// Share of events delivered a few minutes out of order (within lateness).
        public var outOfOrderShare = 0.02
        /// Share of events delivered hours after their time (beyond a 1h lateness bound).
        public var lateShare = 0.005
        public init() {}
    }

    /// One generated input record: what goes on the topic, plus the ground truth for training.
    public struct Record: Sendable {
        public var key: String
        public var value: [UInt8]
        /// Nil for malformed records.
        public var eventID: String?
        /// 1 when the event belongs to a fraudulent or abusive user.
        public var label: Int
        public var isMalformed: Bool { eventID == nil }
    }

    enum Profile { case normal, fraud, abuser }

    public let options: Options

    public init(options: Options) { self.options = options }

    public func generate() -> [Record] {
        var rng = SplitMix64(seed: options.seed)
        let users = (0..<options.users).map { index -> (id: String, profile: Profile) in
            let roll = rng.unit()
            let profile: Profile = roll < options.fraudShare ? .fraud : roll < options.fraudShare + options.abuserShare ? .abuser : .normal
            return ("u\(String(index, radix: 10))", profile)
        }
        // Zipf-like activity: user i gets weight 1/(i+1)^0.8.
        let weights = users.indices.map { 1.0 / pow(Double($0 + 1), 0.8) }
        var cumulative: [Double] = []
        var total = 0.0
        for weight in weights {
            total += weight
            cumulative.append(total)
        }
        let span = Int64(options.days) * 86_400_000
        let start = options.endTime - span
        var pending: [(time: Int64, deliverAt: Int64, record: Record)] = []
        pending.reserveCapacity(options.events)
        var sequence = 0
        var openOrders: [String: [(id: String, amount: Double, time: Int64)]] = [:]
        while pending.count < options.events {
            let pick = rng.unit() * total
            let userIndex = cumulative.partitionPoint { $0 <= pick }
            let (user, profile) = users[min(userIndex, users.count - 1)]
            var time = start + Int64(dailyRhythmOffset(&rng, span: span))
            let burst = profile == .fraud && rng.chance(0.5) ? 4 : 1
            for _ in 0..<burst where pending.count < options.events {
                sequence += 1
                time += Int64(rng.unit() * 120_000)
                let fields = makeEvent(&rng, user: user, profile: profile, time: time, sequence: sequence, openOrders: &openOrders)
                var deliverAt = time
                if rng.chance(options.lateShare) {
                    deliverAt += 2 * 3_600_000 + Int64(rng.unit() * 6 * 3_600_000)
                } else if rng.chance(options.outOfOrderShare) {
                    deliverAt += Int64(rng.unit() * 15 * 60_000)
                }
                let isFraud = profile != .normal ? 1 : 0
                let record: Record
                if rng.chance(options.malformedShare) {
                    record = Record(key: user, value: malformed(&rng, fields: fields), eventID: nil, label: isFraud)
                } else {
                    record = Record(key: user, value: encode(fields), eventID: fields.first { $0.0 == "event_id" }.map { "\($0.1)" }, label: isFraud)
                }
                pending.append((time, deliverAt, record))
            }
        }
        // Delivery order: by delivery time, stable for ties.
        let order = pending.indices.sorted { (pending[$0].deliverAt, $0) < (pending[$1].deliverAt, $1) }
        return order.map { pending[$0].record }
    }

    /// More traffic in the afternoon and evening (UTC), little at night.
    private func dailyRhythmOffset(_ rng: inout SplitMix64, span: Int64) -> Double {
        while true {
            let offset = rng.unit() * Double(span)
            let hour = (offset / 3_600_000).truncatingRemainder(dividingBy: 24)
            let intensity = 0.25 + 0.75 * max(0, sin((hour - 8) / 24 * 2 * Double.pi))
            if rng.unit() < intensity { return offset }
        }
    }

    private func makeEvent(
        _ rng: inout SplitMix64, user: String, profile: Profile, time: Int64, sequence: Int,
        openOrders: inout [String: [(id: String, amount: Double, time: Int64)]]
    ) -> [(String, JSONField)] {
        let userNumber = Int(user.dropFirst()) ?? 0
        let countries = ["DE", "FR", "NL", "US", "GB", "PL", "ES", "IT"]
        let home = countries[userNumber % countries.count]
        let cardCount = profile == .fraud ? 12 : 2
        let deviceCount = profile == .fraud ? 8 : 2
        let card = "c\(userNumber)-\(Int(rng.unit() * Double(cardCount)))"
        let device = "d\(userNumber)-\(Int(rng.unit() * Double(deviceCount)))"
        let typeRoll = rng.unit()
        let returnShare = profile == .abuser ? 0.45 : 0.06
        var fields: [(String, JSONField)] = [("event_id", .string("e\(sequence)")), ("user_id", .string(user))]
        let timeField: JSONField = rng.chance(0.5) ? .integer(time) : .string(EventTime.formatRFC3339(time))
        if typeRoll < returnShare, let orders = openOrders[user], !orders.isEmpty {
            let order = orders[Int(rng.unit() * Double(orders.count))]
            fields += [("type", .string("return")), ("event_time", timeField), ("amount", .money(order.amount)), ("currency", .string("EUR")),
                       ("order_id", .string(order.id)), ("return_reason", .string(["damaged", "not_as_described", "changed_mind", "wrong_size"][Int(rng.unit() * 4)]))]
            return fields
        }
        let isPayment = typeRoll > 0.55
        let base = profile == .fraud ? 180.0 + rng.unit() * 900 : 15 + 120 * rng.unit() * rng.unit()
        let amount = (base * 100).rounded() / 100
        let shipping = profile == .fraud && rng.chance(0.6) ? countries[Int(rng.unit() * Double(countries.count))] : home
        if isPayment {
            fields += [("type", .string("payment")), ("event_time", timeField), ("amount", .money(amount)), ("currency", .string("EUR")),
                       ("card_id", .string(card)), ("device_id", .string(device)), ("ip", .string("10.\(userNumber % 200).\(Int(rng.unit() * 250)).7")),
                       ("merchant_id", .string("m\(Int(rng.unit() * 40))"))]
        } else {
            let orderID = "o\(sequence)"
            openOrders[user, default: []].append((orderID, amount, time))
            if openOrders[user]!.count > 20 { openOrders[user]!.removeFirst() }
            fields += [("type", .string("order")), ("event_time", timeField), ("amount", .money(amount)), ("currency", .string("EUR")),
                       ("order_id", .string(orderID)), ("device_id", .string(device)), ("item_count", .integer(Int64(1 + Int(rng.unit() * 4)))),
                       ("shipping_country", .string(shipping)), ("billing_country", .string(home))]
        }
        return fields
    }

    /// A broken variant of a valid event, covering each class of invalid input.
    private func malformed(_ rng: inout SplitMix64, fields: [(String, JSONField)]) -> [UInt8] {
        switch Int(rng.unit() * 8) {
        case 0: return Array("{\"event_id\": \"broken".utf8)
        case 1: return encode(fields.filter { $0.0 != "user_id" })
        case 2: return encode(fields.map { $0.0 == "amount" ? ("amount", .integer(-5)) : $0 })
        case 3: return encode(fields.map { $0.0 == "type" ? ("type", .string("refund")) : $0 })
        case 4: return encode(fields.map { $0.0 == "event_time" ? ("event_time", .integer(32_503_680_000_000)) : $0 })
        case 5: return encode(fields.map { $0.0 == "amount" ? ("amount", .string("12.50")) : $0 })
        case 6: return encode(fields + [("padding", .string(String(repeating: "x", count: 70_000)))])
        default: return Array("not json at all".utf8)
        }
    }

    enum JSONField {
        case string(String)
        case integer(Int64)
        case money(Double)
    }

    private func encode(_ fields: [(String, JSONField)]) -> [UInt8] {
        var text = "{"
        for (index, (name, value)) in fields.enumerated() {
            if index > 0 { text += "," }
            text += "\"\(name)\":"
            switch value {
            case .string(let s): text += "\"\(s)\""
            case .integer(let i): text += String(i)
            case .money(let m): text += m.description
            }
        }
        return Array((text + "}").utf8)
    }
}

extension TrafficGenerator.JSONField: CustomStringConvertible {
    var description: String {
        switch self {
        case .string(let s): return s
        case .integer(let i): return String(i)
        case .money(let m): return m.description
        }
    }
}

extension Array {
    /// Index of the first element for which `predicate` is false, for a predicate true then false.
    func partitionPoint(_ predicate: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if predicate(self[mid]) { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
