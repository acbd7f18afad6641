"""Session stores: where approvals, parked turns, stored responses and tasks live between requests."""
