"""MinAn 民安: safety supervision of civil-affairs service institutions."""
