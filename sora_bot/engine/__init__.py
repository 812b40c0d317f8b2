"""The engine: the job service (front door), the worker loop, one step per job state, outcomes."""
