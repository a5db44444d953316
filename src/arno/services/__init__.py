"""The domain: rules and transactions. Only this layer opens database transactions."""
