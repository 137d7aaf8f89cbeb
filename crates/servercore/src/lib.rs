//! servercore
