package stream

import (
	"sort"

	"github.com/segmentio/kafka-go"
)

// coPartitioned assigns partition number k of every subscribed topic to the
// same member, so the generation and consumption readings of a site (same
// key, same partition number on co-partitioned topics) meet in one engine.
//
// Members are sorted by id and partition numbers dealt to them in turn, so
// the split depends only on who is in the group and how many partitions
// there are: not on the order the broker lists them in (kfake lists them in
// random order, and kafka-go's Range and RoundRobin balancers assign in the
// order given).
type coPartitioned struct{}

// coPartitionedProtocol is the assignment protocol's name in JoinGroup; every
// member of a group must offer it.
const coPartitionedProtocol = "offtake-copartitioned-v1"

func (coPartitioned) ProtocolName() string      { return coPartitionedProtocol }
func (coPartitioned) UserData() ([]byte, error) { return nil, nil }

func (coPartitioned) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	out := kafka.GroupMemberAssignments{}
	if len(members) == 0 {
		return out
	}
	ms := append([]kafka.GroupMember(nil), members...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	numbers := map[int]bool{}
	for _, p := range partitions {
		numbers[p.ID] = true
	}
	sorted := make([]int, 0, len(numbers))
	for n := range numbers {
		sorted = append(sorted, n)
	}
	sort.Ints(sorted)
	owner := make(map[int]int, len(sorted)) // partition number → index in ms
	for i, n := range sorted {
		owner[n] = i % len(ms)
	}
	for _, m := range ms {
		out[m.ID] = map[string][]int{}
	}
	for _, p := range partitions {
		m := ms[owner[p.ID]]
		if !subscribed(m, p.Topic) {
			continue // every offtake member subscribes to both topics; a stranger gets nothing it did not ask for
		}
		out[m.ID][p.Topic] = append(out[m.ID][p.Topic], p.ID)
	}
	for _, byTopic := range out {
		for _, ps := range byTopic {
			sort.Ints(ps)
		}
	}
	return out
}

func subscribed(m kafka.GroupMember, topic string) bool {
	for _, t := range m.Topics {
		if t == topic {
			return true
		}
	}
	return false
}
