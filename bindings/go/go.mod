module github.com/libfeat/libfeat/bindings/go

go 1.21
