"""SQL, one module per table family. The caller owns the connection and the transaction."""
