/// Turns raw record bytes into a validated `Event`, or says exactly why not.
///
/// The rules are the wire contract of docs/events.md: required fields present and not null,
/// `amount` a JSON number ≥ 0, `event_time` epoch milliseconds (integer) or RFC 3339 within
/// years 2000–2099 UTC, optional fields of the right JSON type when present and not null,
/// unknown fields ignored, records over `maxRecordBytes` rejected before parsing.
public struct EventDecoder: Sendable {
    public static let defaultMaxRecordBytes = 64 * 1024

    public let maxRecordBytes: Int

    public init(maxRecordBytes: Int = EventDecoder.defaultMaxRecordBytes) {
        self.maxRecordBytes = maxRecordBytes
    }

    public func decode(_ bytes: [UInt8]) -> Result<Event, EventRejection> {
        bytes.withUnsafeBytes { decode($0) }
    }

    public func decode(_ bytes: UnsafeRawBufferPointer) -> Result<Event, EventRejection> {
        guard bytes.count <= maxRecordBytes else {
            return .failure(EventRejection(.oversized, "record is \(bytes.count) bytes, limit \(maxRecordBytes)"))
        }
        // Members go straight into a slot per known field (later duplicates win, as in most JSON
        // readers; unknown members are ignored), found by comparing keys (small strings compare
        // as two words): no array of all members, and no dictionary that hashed every key.
        var fields = KnownFields()
        do {
            try JSONObjectScanner.forEachMember(of: bytes) { key, value in
                if let slot = KnownFields.slot(of: key) { fields.values[slot] = value }
            }
        } catch {
            let code: EventRejection.Code = error.reason == "expected an object" ? .notAnObject : .notJSON
            return .failure(EventRejection(code, error.description))
        }
        do {
            return .success(try build(fields))
        } catch let rejection as EventRejection {
            return .failure(rejection)
        } catch {
            return .failure(EventRejection(.invalidValue, "\(error)"))
        }
    }

    private func build(_ fields: KnownFields) throws -> Event {
        func required(_ name: String) throws -> JSONScalar {
            guard let value = fields[name] else { throw EventRejection(.missingField, field: name, "required field is missing") }
            if value == .null { throw EventRejection(.missingField, field: name, "required field is null") }
            return value
        }
        func requiredString(_ name: String) throws -> String {
            guard case .string(let text) = try required(name) else {
                throw EventRejection(.wrongType, field: name, "must be a string")
            }
            guard !text.isEmpty else { throw EventRejection(.invalidValue, field: name, "must not be empty") }
            return text
        }
        func optionalString(_ name: String) throws -> String? {
            switch fields[name] {
            case nil, .null?: return nil
            case .string(let text)?: return text
            default: throw EventRejection(.wrongType, field: name, "must be a string when present")
            }
        }

        let eventID = try requiredString("event_id")
        let typeText: String
        switch try required("type") {
        case .string(let text): typeText = text
        default: throw EventRejection(.wrongType, field: "type", "must be a string")
        }
        guard let type = EventType(rawValue: typeText) else {
            throw EventRejection(.invalidValue, field: "type", "unknown type \"\(typeText.prefix(40))\" (order, payment or return)")
        }
        let userID = try requiredString("user_id")
        let eventTime = try parseEventTime(try required("event_time"))
        guard case .number(let amountText) = try required("amount") else {
            throw EventRejection(.wrongType, field: "amount", "must be a JSON number")
        }
        guard let amount = Double(amountText), amount.isFinite else {
            throw EventRejection(.invalidValue, field: "amount", "not a finite number")
        }
        guard amount >= 0 else { throw EventRejection(.invalidValue, field: "amount", "must be ≥ 0, got \(amountText)") }
        let currency = try requiredString("currency")

        var itemCount: Int64?
        switch fields["item_count"] {
        case nil, .null?: itemCount = nil
        case .number(let text)? where JSONScalar.number(text).isIntegerLiteral:
            guard let value = Int64(text) else { throw EventRejection(.invalidValue, field: "item_count", "out of range") }
            guard value >= 0 else { throw EventRejection(.invalidValue, field: "item_count", "must be ≥ 0") }
            itemCount = value
        default: throw EventRejection(.wrongType, field: "item_count", "must be an integer when present")
        }

        return Event(
            eventID: eventID, type: type, userID: userID, eventTime: eventTime,
            amount: amount == 0 ? 0 : amount,  // -0 is not a meaningful amount
            currency: currency,
            orderID: try optionalString("order_id"), cardID: try optionalString("card_id"),
            deviceID: try optionalString("device_id"), ip: try optionalString("ip"),
            merchantID: try optionalString("merchant_id"), itemCount: itemCount,
            shippingCountry: try optionalString("shipping_country"),
            billingCountry: try optionalString("billing_country"),
            returnReason: try optionalString("return_reason"))
    }

    /// The members `build` reads, by position in `names`.
    private struct KnownFields {
        static let names = [
            "event_id", "type", "user_id", "event_time", "amount", "currency", "item_count", "order_id", "card_id",
            "device_id", "ip", "merchant_id", "shipping_country", "billing_country", "return_reason",
        ]
        /// In place (no heap allocation per record).
        var values = InlineArray<15, JSONScalar?>(repeating: nil)

        /// Slots by name length, derived from `names`: a key is compared only with the (at most
        /// three) names of its length, where a search of `names` compared it with up to 15.
        private static let slotsByLength: [[Int]] = {
            var table = [[Int]](repeating: [], count: names.map(\.utf8.count).max()! + 1)
            for (slot, name) in names.enumerated() { table[name.utf8.count].append(slot) }
            return table
        }()

        /// The slot of a known member name, nil for any other.
        static func slot(of key: String) -> Int? {
            let length = key.utf8.count
            guard length < slotsByLength.count else { return nil }
            for slot in slotsByLength[length] where names[slot] == key { return slot }
            return nil
        }

        subscript(name: String) -> JSONScalar? {
            guard let slot = Self.slot(of: name) else { preconditionFailure("\(name) is not a known field") }
            return values[slot]
        }
    }

    private func parseEventTime(_ value: JSONScalar) throws -> Int64 {
        let millis: Int64
        switch value {
        case .number(let text):
            guard value.isIntegerLiteral, let parsed = Int64(text) else {
                throw EventRejection(.invalidValue, field: "event_time", "epoch milliseconds must be an integer, got \(text.prefix(40))")
            }
            millis = parsed
        case .string(let text):
            guard let parsed = EventTime.parseRFC3339(text) else {
                throw EventRejection(.invalidValue, field: "event_time", "not an RFC 3339 date-time: \"\(text.prefix(40))\"")
            }
            millis = parsed
        default:
            throw EventRejection(.wrongType, field: "event_time", "must be epoch milliseconds or an RFC 3339 string")
        }
        guard EventTime.isPlausible(millis) else {
            throw EventRejection(.implausibleTime, field: "event_time", "\(millis) ms is outside years 2000–2099 UTC")
        }
        return millis
    }
}
