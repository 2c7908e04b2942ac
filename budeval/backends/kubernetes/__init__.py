"""The Kubernetes backend: each run is a Job; pure manifests and fate rules, I/O at the edge."""
