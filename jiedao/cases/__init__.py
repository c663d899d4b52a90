"""Cases (工单): the closed loop — issue 3."""
