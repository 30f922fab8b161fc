"""Domain code used by more than one service."""
