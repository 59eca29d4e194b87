//! entrasync
