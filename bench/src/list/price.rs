//! Published list prices of the requests a room walk makes on object storage.
//!
//! These are the providers' list prices for the request class a LIST belongs to, as this
//! team last read them on the providers' pricing pages (stated in [`PRICES_AS_OF`]); they
//! were not re-read from the network when the benchmark ran (it has none). Tiered, regional
//! and committed-use discounts are ignored. Re-check before deciding on money.

use serde::{Deserialize, Serialize};

/// When the prices below were read.
pub const PRICES_AS_OF: &str = "2024-12 (providers' public pricing pages)";

/// A price per request of the class a listing belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Provider, storage class and region the price is for.
    pub provider: &'static str,
    /// Price of 1,000 list requests, in `currency`.
    pub per_thousand: f64,
    /// ISO currency code.
    pub currency: &'static str,
    /// What is priced per 1,000: `"requests"`, or `"read request units"` on DynamoDB.
    pub unit: &'static str,
}

impl Price {
    /// AWS S3 Standard, us-east-1: LIST is a "PUT, COPY, POST, LIST" request, USD 0.005 per
    /// 1,000.
    pub const AWS_S3: Price = Price {
        provider: "AWS S3 Standard, us-east-1 (LIST class)",
        per_thousand: 0.005,
        currency: "USD",
        unit: "requests",
    };
    /// Tencent COS Standard, mainland China: read/write requests, CNY 0.01 per 10,000.
    pub const TENCENT_COS: Price = Price {
        provider: "Tencent COS Standard, mainland China (requests)",
        per_thousand: 0.001,
        currency: "CNY",
        unit: "requests",
    };
    /// Alibaba OSS Standard, mainland China: LIST is a PUT-type request, CNY 0.01 per 10,000.
    pub const ALIBABA_OSS: Price = Price {
        provider: "Alibaba OSS Standard, mainland China (PUT-type requests)",
        per_thousand: 0.001,
        currency: "CNY",
        unit: "requests",
    };
    /// Amazon DynamoDB on-demand, Standard table class, us-east-1: USD 0.125 per million
    /// read request units (since the on-demand price cut of November 2024). A strongly
    /// consistent read of up to 4 KB is one unit, an eventually consistent one half.
    pub const AWS_DYNAMODB: Price = Price {
        provider: "Amazon DynamoDB on-demand, Standard, us-east-1 (read request units)",
        per_thousand: 0.000125,
        currency: "USD",
        unit: "read request units",
    };

    /// What one million broadcasts cost when each walks the room with `units` of what is
    /// priced (requests, or read units).
    pub fn per_million_broadcasts(&self, units: f64) -> f64 {
        units * 1e6 / 1000.0 * self.per_thousand
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_list_per_broadcast_costs_five_dollars_per_million_on_s3() {
        assert!((Price::AWS_S3.per_million_broadcasts(1.0) - 5.0).abs() < 1e-9);
        assert!((Price::ALIBABA_OSS.per_million_broadcasts(100.0) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn one_read_unit_per_broadcast_costs_twelve_and_a_half_cents_per_million_on_dynamodb() {
        assert!((Price::AWS_DYNAMODB.per_million_broadcasts(1.0) - 0.125).abs() < 1e-9);
    }
}
