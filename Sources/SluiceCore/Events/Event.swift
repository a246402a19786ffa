/// The kind of commerce event; anything else is invalid input.
public enum EventType: String, Sendable, CaseIterable, Hashable {
    case order
    case payment
    case `return`

    /// One bit per type, for type filters tested per event.
    @inlinable var bit: UInt8 {
        switch self {
        case .order: return 1
        case .payment: return 2
        case .return: return 4
        }
    }
}

/// A validated input event. Field names follow the wire schema in docs/events.md.
public struct Event: Sendable, Equatable {
    public var eventID: String
    public var type: EventType
    public var userID: String
    /// Event time in epoch milliseconds (UTC).
    public var eventTime: Int64
    public var amount: Double
    public var currency: String
    public var orderID: String?
    public var cardID: String?
    public var deviceID: String?
    public var ip: String?
    public var merchantID: String?
    public var itemCount: Int64?
    public var shippingCountry: String?
    public var billingCountry: String?
    public var returnReason: String?

    public init(
        eventID: String, type: EventType, userID: String, eventTime: Int64, amount: Double, currency: String,
        orderID: String? = nil, cardID: String? = nil, deviceID: String? = nil, ip: String? = nil,
        merchantID: String? = nil, itemCount: Int64? = nil, shippingCountry: String? = nil,
        billingCountry: String? = nil, returnReason: String? = nil
    ) {
        self.eventID = eventID
        self.type = type
        self.userID = userID
        self.eventTime = eventTime
        self.amount = amount
        self.currency = currency
        self.orderID = orderID
        self.cardID = cardID
        self.deviceID = deviceID
        self.ip = ip
        self.merchantID = merchantID
        self.itemCount = itemCount
        self.shippingCountry = shippingCountry
        self.billingCountry = billingCountry
        self.returnReason = returnReason
    }
}

/// The event fields a feature may aggregate, by their wire names.
public enum EventField: String, Sendable, CaseIterable, Hashable {
    case eventID = "event_id"
    case userID = "user_id"
    case amount
    case currency
    case orderID = "order_id"
    case cardID = "card_id"
    case deviceID = "device_id"
    case ip
    case merchantID = "merchant_id"
    case itemCount = "item_count"
    case shippingCountry = "shipping_country"
    case billingCountry = "billing_country"
    case returnReason = "return_reason"

    /// Fields whose values are numbers (usable by sum, mean, min, max, last).
    public var isNumeric: Bool { self == .amount || self == .itemCount }
}

extension Event {
    /// The numeric value of `field`, or nil when the event lacks it or it is not numeric.
    @inlinable
    public func number(_ field: EventField) -> Double? {
        switch field {
        case .amount: return amount
        case .itemCount: return itemCount.map(Double.init)
        default: return nil
        }
    }

    /// The value of `field` as an exact string key (numbers in their shortest round-trip form).
    public func key(_ field: EventField) -> String? {
        switch field {
        case .eventID: return eventID
        case .userID: return userID
        case .amount: return amount.description
        case .currency: return currency
        case .orderID: return orderID
        case .cardID: return cardID
        case .deviceID: return deviceID
        case .ip: return ip
        case .merchantID: return merchantID
        case .itemCount: return itemCount.map { String($0) }
        case .shippingCountry: return shippingCountry
        case .billingCountry: return billingCountry
        case .returnReason: return returnReason
        }
    }

    /// True when the event carries `field` (required fields are always present), without
    /// building its text as `key` would for numbers.
    @inlinable
    public func has(_ field: EventField) -> Bool {
        switch field {
        case .eventID, .userID, .amount, .currency: return true
        case .orderID: return orderID != nil
        case .cardID: return cardID != nil
        case .deviceID: return deviceID != nil
        case .ip: return ip != nil
        case .merchantID: return merchantID != nil
        case .itemCount: return itemCount != nil
        case .shippingCountry: return shippingCountry != nil
        case .billingCountry: return billingCountry != nil
        case .returnReason: return returnReason != nil
        }
    }
}
