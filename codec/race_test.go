//go:build race

package codec

// raceDetector reports a build with the race detector, whose allocator sizes objects
// differently.
const raceDetector = true
