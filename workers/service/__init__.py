"""What staff do through the dashboard: sign in, submit, act on narrations."""
