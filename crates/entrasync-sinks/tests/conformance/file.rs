//! File sink tests (in progress).
