"""The video provider: its protocol, the HTTP client and its errors, the simulator."""
