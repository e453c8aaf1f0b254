"""What people read: the terminal table, `harness show`, `compare`, the leaderboard (text and page)."""
