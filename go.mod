module github.com/offheap/offheap

go 1.24
