"""One router per area of the back office: session (sign-in, language), fleet, audience, staff calls,
audit, users, and operations (health, metrics, definitions)."""
