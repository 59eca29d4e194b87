//! SQLite sink (to be written).
