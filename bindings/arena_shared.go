//go:build offheap_shared

package bindings

// arena_shared.go stands in for arena_bundled.go with an installed library,
// whose internals are hidden: no blocks, so the Arena makes one call per
// allocation.

import "unsafe"

// ArenaBlocks reports that an installed library does not hand out blocks:
// the Arena makes one call per allocation.
const ArenaBlocks = false

// TakeBlock is unavailable with an installed library.
func (a Arena) TakeBlock(need, align uintptr) (unsafe.Pointer, uintptr, Err) { return nil, 0, EINVAL }

// Settle is unavailable with an installed library.
func (a Arena) Settle(data unsafe.Pointer, used uintptr) {}
