//! fake-graph: a synthetic Entra tenant served behind Microsoft Graph's API.
