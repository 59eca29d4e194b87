//! CloudQuery's plugin protocol v3 and discovery services, generated from `.proto` files written
//! from the protocol reference (Arrow schemas and records travel as IPC stream bytes).
//!
//! The generated code is checked in (`src/generated/`), so that building entrasync compiles no
//! protobuf compiler; `tests/generated.rs` fails when it is stale and says how to regenerate it.

#![allow(clippy::all, clippy::pedantic)]

pub mod plugin {
    pub mod v3 {
        include!("generated/cloudquery.plugin.v3.rs");
    }
}

pub mod discovery {
    pub mod v0 {
        include!("generated/cloudquery.discovery.v0.rs");
    }
    pub mod v1 {
        include!("generated/cloudquery.discovery.v1.rs");
    }
}

/// gRPC message limit of CloudQuery's SDK (`MaxGrpcMsgSize`): records can be large.
pub const MAX_MESSAGE_SIZE: usize = 200 * 1024 * 1024;
