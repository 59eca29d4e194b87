//! CloudQuery's plugin protocol v3 and discovery services, generated from `.proto` files written
//! from the protocol reference (Arrow schemas and records travel as IPC stream bytes).

#![allow(clippy::all, clippy::pedantic)]

pub mod plugin {
    pub mod v3 {
        tonic::include_proto!("cloudquery.plugin.v3");
    }
}

pub mod discovery {
    pub mod v0 {
        tonic::include_proto!("cloudquery.discovery.v0");
    }
    pub mod v1 {
        tonic::include_proto!("cloudquery.discovery.v1");
    }
}

/// gRPC message limit of CloudQuery's SDK (`MaxGrpcMsgSize`): records can be large.
pub const MAX_MESSAGE_SIZE: usize = 200 * 1024 * 1024;
