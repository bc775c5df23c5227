"""Remote network drivers: plugins spoken to with Docker's remote driver protocol."""
