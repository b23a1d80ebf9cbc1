"""The operator commands of `openspanner`, one module per area, all over openspanner.client."""
