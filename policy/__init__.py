"""CrossGuard policy pack (`pulumi preview --policy-pack policy`); `rules` is shared with tests/infra."""
