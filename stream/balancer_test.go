package stream

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestCoPartitionedAssignsPartitionKOfBothTopicsToOneMember(t *testing.T) {
	topics := []string{"gen", "cons"}
	partitions := func(n int, rng *rand.Rand) []kafka.Partition {
		var ps []kafka.Partition
		for _, tp := range topics {
			for i := range n {
				ps = append(ps, kafka.Partition{Topic: tp, ID: i})
			}
		}
		// Brokers list partitions in any order (kfake in map order).
		rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		return ps
	}
	members := func(ids ...string) []kafka.GroupMember {
		var ms []kafka.GroupMember
		for _, id := range ids {
			ms = append(ms, kafka.GroupMember{ID: id, Topics: topics})
		}
		return ms
	}
	for _, tc := range []struct {
		name       string
		members    []kafka.GroupMember
		partitions int
		want       kafka.GroupMemberAssignments
	}{
		{"one member takes everything", members("a"), 3,
			kafka.GroupMemberAssignments{"a": {"gen": {0, 1, 2}, "cons": {0, 1, 2}}}},
		{"two members deal partition numbers in turn, by member id", members("b", "a"), 4,
			kafka.GroupMemberAssignments{"a": {"gen": {0, 2}, "cons": {0, 2}}, "b": {"gen": {1, 3}, "cons": {1, 3}}}},
		{"more members than partitions leaves some idle", members("c", "a", "b"), 2,
			kafka.GroupMemberAssignments{"a": {"gen": {0}, "cons": {0}}, "b": {"gen": {1}, "cons": {1}}, "c": {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(20) {
				got := coPartitioned{}.AssignGroups(tc.members, partitions(tc.partitions, rand.New(rand.NewPCG(seed, 1))))
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("seed %d: got %v, want %v", seed, got, tc.want)
				}
			}
		})
	}
	t.Run("no members, no assignment", func(t *testing.T) {
		if got := (coPartitioned{}).AssignGroups(nil, partitions(2, rand.New(rand.NewPCG(1, 1)))); len(got) != 0 {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("a member gets nothing of a topic it did not subscribe to", func(t *testing.T) {
		ms := []kafka.GroupMember{{ID: "a", Topics: []string{"gen"}}}
		got := coPartitioned{}.AssignGroups(ms, partitions(2, rand.New(rand.NewPCG(1, 1))))
		if want := (kafka.GroupMemberAssignments{"a": {"gen": {0, 1}}}); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}
