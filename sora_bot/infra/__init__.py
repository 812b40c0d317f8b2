"""Infrastructure: logging, metrics, listening sockets, the one-process lock, health."""
